"""The lexer rules of the Stanford PTBTokenizer 3.4.1, as Python regular expressions.

Each rule of the jar's JFlex specification (``PTBLexer.flex``) becomes a :class:`Rule`: a regex
whose group ``tok`` is the token and whose remainder is the trailing context (``r1/r2`` in
JFlex), plus an action that says what the token becomes and how many characters it consumes.
JFlex ``%caseless`` applies to literal text but not to character classes; :func:`_words` and
the inline ``(?i:...)`` groups keep that distinction (``Mass.`` is an abbreviation, ``mass.``
is not). The abbreviation lists, file-name extensions, currency and quote mappings and the
ASCII-only contexts were read off the jar's behaviour (pycocoevalcap ships the jar).
Used by :mod:`multimodal_rnn.text.ptb_tokenizer`.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Callable
from typing import NamedTuple

Action = Callable[[str], "tuple[str | None, int]"]


class Rule(NamedTuple):
    """One lexer rule; ``starts`` lets the lexer skip rules that cannot match at a character."""

    starts: re.Pattern[str] | None  # the characters a match can start with (None: any)
    pattern: re.Pattern[str]  # group "tok" is the token; what follows it is trailing context
    action: Action  # token text -> (emitted token or None, characters consumed)


def _keep(tok: str) -> tuple[str | None, int]:
    return tok, len(tok)


def _skip(tok: str) -> tuple[str | None, int]:
    return None, len(tok)


def _const(text: str) -> Action:
    return lambda tok: (text, len(tok))


def _map(fn: Callable[[str], str]) -> Action:
    return lambda tok: (fn(tok), len(tok))


def _push_back(count: int) -> Action:
    return lambda tok: (tok[:-count], len(tok) - count)


def _reduplicate_period(tok: str) -> tuple[str | None, int]:
    """Abbreviation before a sentence end: return it with its period, then the period again."""
    return tok, len(tok) - 1


def _acronym_before_sentence(tok: str) -> tuple[str | None, int]:
    """``I.`` -> ``I`` then ``.``; longer acronyms keep the period and repeat it."""
    return (tok[:1], 1) if len(tok) == 2 else (tok, len(tok) - 1)


_LEFT_SINGLE = re.compile("[\u0082\u008b\u0091\u2018\u201b\u2039]")
_RIGHT_SINGLE = re.compile("[\u0092\u2019\u203a]")
_LEFT_DOUBLE = re.compile("[\u0084\u0093\u201c\u00ab]")
_RIGHT_DOUBLE = re.compile("[\u0094\u201d\u00bb]")


def _right_quote(tok: str) -> str:
    """The jar's LaTeX quote style for a closing (or undecided) quote: ’ -> ', ” -> '', ‘ -> `."""
    tok = re.sub(r"\"|''|'`|`'|&quot;", "''", tok.replace("&apos;", "'"))
    tok = _RIGHT_SINGLE.sub("'", _LEFT_SINGLE.sub("`", tok))
    return _RIGHT_DOUBLE.sub("''", _LEFT_DOUBLE.sub("``", tok))


def _brackets_in(tok: str) -> str:
    return tok.replace("(", "-LRB-").replace(")", "-RRB-")


def _currency(tok: str) -> str:
    return {"\u00a2": "cents", "\u00a3": "#", "\u0080": "$", "\u00a4": "$", "\u20a0": "$",
            "\u20ac": "$"}.get(tok, tok)


def _fraction(tok: str) -> str:
    return {"\u00bc": "1/4", "\u00bd": "1/2", "\u00be": "3/4", "\u2153": "1/3", "\u2154": "2/3"}.get(tok, tok)


def _no_soft_hyphen(tok: str) -> str:
    return tok.replace("\u00ad", "") or "-"  # a token of soft hyphens only becomes "-"


def _ampersand(tok: str) -> str:
    return tok.replace("&amp;", "&")


def _hyphens(tok: str) -> tuple[str | None, int]:
    return ("--" if 3 <= len(tok) <= 4 else tok), len(tok)


def _char_class(*categories: str, uppercase: bool = False, size: int = 0x10000) -> str:
    """Ranges (for a regex ``[...]``) of the first ``size`` BMP characters in the Unicode ``categories``.

    ``uppercase`` adds the characters Java's ``Character.isUpperCase`` accepts (such as Ⅻ).
    """
    table = _categories(size)
    wanted = [category in categories for category in table]
    if uppercase:
        wanted = [w or chr(code).isupper() for code, w in enumerate(wanted)]
    ranges = []
    for is_wanted, run in itertools.groupby(range(len(table)), key=wanted.__getitem__):
        if is_wanted:
            first, *rest = run
            ranges.append((first, rest[-1] if rest else first))
    return "".join(re.escape(chr(a)) + ("" if a == b else "-" + re.escape(chr(b))) for a, b in ranges)


@functools.lru_cache(maxsize=2)
def _categories(size: int) -> list[str]:
    """The Unicode category of the first ``size`` code points ("Cs", never wanted, for the surrogates)."""
    return [unicodedata.category(chr(code)) for code in range(size)]


def _words(spec: str) -> str:
    """JFlex ``%caseless`` word alternation -> regex: letters case-insensitive, ``[X]`` classes exact."""
    def one(word: str) -> str:
        parts = re.split(r"(\[[^\]]*\])", word)
        return "".join(p if p.startswith("[") else f"(?i:{p})" for p in parts if p)
    return "(?:" + "|".join(one(w) for w in spec.split("|")) + ")"


_ACRO_OTHERS = [r"(?i:Canada|Sino|Korean|EU|Japan|non)-(?i:U\.S)", r"(?i:U\.S\.-(?:U\.K|U\.S\.S\.R))"]
_ACRO = ["[A-Za-z](?:\\.[A-Za-z])*"] + _ACRO_OTHERS
_ABBREV1_WORDS = _words(
    "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|Mon|Tue|Tues|Wed|Thu|Thurs|Fri"
    "|Ala|Ariz|[A]z|[A]rk|Calif|Colo|Conn|Ct|Dak|[D]el|Fla|Ga|[I]ll|Ind|Kans?|Ky|[L]a|[M]ass|Md"
    "|Mich|Minn|[M]iss|Mo|Mont|Neb|Nev|Okla|[O]re|[P]a|Penn|Tenn|[T]ex|Va|Vt|[W]ash|Wisc?|Wyo"
    "|Inc|Cos?|Corp|Pp?t[ye]s?|Ltd|Plc|Rt|Bancorp|Bhd|Assn|Univ|Intl|Sys|tel|est|ext|sq"
    "|Jr|Sr|Bros|(Ed|Ph)\\.D|Esq|etc|al|seq|Bldg|Blvd|Rd"
)
_ABBREV4_WORDS = (
    _words(
        "Mr|Mrs|Ms|[M]iss|Drs?|Profs?|Sens?|Reps?|Attys?|Lt|Col|Gen|Messrs|Govs?|Adm|Rev|Maj|Sgt"
        "|Cpl|Pvt|Capt|Ste?|Ave|Pres|Lieut|Hon|Brig|Co?mdr|Pfc|Spc|Supts?|Det|Mt|Ft|Adj|Adv|Asst"
        "|Assoc|Ens|Insp|Mlle|Mme|Msgr|Sfc|vs|[v]|Alex|Wm|Jos|Cie|a\\.k\\.a|cf|TREAS|Ph|Invt|Elec"
        "|Natl|M[ft]g|Dept"
    )
    + "|"
    + "|".join(_ACRO)
)
_NUMBER_ABBREVS = r"(?i:ca|figs?|prop|nos?|art|bldg|pp|op)"  # "No. 5": the period stays before a digit
_COMPANY_ABBREVS = r"(?:(?i:pt)[eyEY]|(?i:co))"  # "Co. Ltd"

PERIOD_WORDS = re.compile(f"(?:{_ABBREV1_WORDS}|{_ABBREV4_WORDS}|{_NUMBER_ABBREVS}|{_COMPANY_ABBREVS})")
"""Words (letters only, ``fullmatch``) that a rule may keep together with a period right after them.

Every other run of ASCII letters followed by ``.`` is the word, then ``.`` (rules that need more
than the period after the word: file names, URLs, ``word.,``).
"""


@functools.lru_cache(maxsize=2)
def lexer_rules(ascii_only: bool = False) -> tuple[Rule, ...]:
    """The jar's lexer rules in its order, built once (the Unicode classes take a few tenths of a second).

    ``ascii_only``: the same rules with their Unicode classes cut to ASCII, for ASCII text only
    (where they match exactly the same), and quick to build.
    """
    size = 0x80 if ascii_only else 0x10000
    letters = _char_class("Lu", "Ll", "Lt", "Lm", "Lo", size=size)
    # the jar's {LETTER} (used by words) adds the soft hyphen and combining marks to [:letter:]
    word_letters = letters + _char_class("Mn", "Mc", "Me", size=size) + "\u00ad"
    digits = _char_class("Nd", size=size)
    splet = r"&[aeiouAEIOU](?i:acute|grave|uml);"
    L = f"(?:[{word_letters}]|{splet})"
    D = f"[{digits}]"
    LD = f"(?:[{word_letters}{digits}]|{splet})"
    alnum = f"[{letters}{digits}]"
    upper = f"[{_char_class('Lu', uppercase=True, size=size)}]"
    sp = "[ \t\u00a0\u2000-\u200a\u3000]"
    spnl = "[ \t\u00a0\u2000-\u200a\u3000\n\u0085]"
    apos = "(?:['\u0092\u2019]|&apos;)"
    apos_etc = "(?:['\u0092\u2019`\u0091\u2018\u201b]|&apos;)"
    redaux = apos + "(?:[msdMSD]|(?i:re|ve|ll))"
    sredaux = f"(?i:n){apos_etc}(?i:t)"
    word = f"{L}{LD}*(?:[.!?]{L}{LD}*)*"
    sword = "[A-Za-z\u00ad]*[A-MO-Za-mo-z]\u00ad*"
    thing_part = f"(?:[dDoOlL]{apos_etc}{alnum})?{alnum}+"
    thing = f"{thing_part}(?:[-_\u058a\u2010\u2011]{thing_part})*"
    num = f"{D}*(?:[.:,\u00ad\u066b\u066c]{D}+)+|{D}+"
    sgml = (r"<(?:[!?][A-Za-z\-][^>\r\n]*|[A-Za-z][A-Za-z0-9_:.\-]*(?:[ ]+(?:[A-Za-z][A-Za-z0-9_:.\-]*"
            r"|[A-Za-z][A-Za-z0-9_:.\-]*[ ]*=[ ]*(?:'[^']*'|\"[^\"]*\"|[A-Za-z][A-Za-z0-9_:.\-]*)))*"
            r"[ ]*/?|/[A-Za-z][A-Za-z0-9_:.\-]*)[ ]*>")
    acro_others, acro, abbrev4 = _ACRO_OTHERS, _ACRO, f"(?:{_ABBREV4_WORDS})"
    acro2 = "(?:" + "|".join(["[A-Za-z](?:\\.[A-Za-z])+"] + acro_others) + ")"
    abbrev1 = _ABBREV1_WORDS + r"\."
    sentence_words = "|".join(
        w[0] + f"(?i:{w[1:]})" for w in (
            "About According Additionally After An A As At But Did During Earlier He Her Here How "
            "However If In It Last Many More Mr\\. Ms\\. Now Once One Other Our She Since So Some "
            "Such That The Their Then There These They This We When While What Who Why Yet You").split())
    quotes = "`\u2018\u2019\u201a\u201b\u201c\u201d\u0082\u0084\u0091-\u0094\u2039\u203a\u00ab\u00bb\u201e\u201f"
    misc = ("+%&~^|\\\\\u00a6\u00a7\u00a8\u00a9\u00ac\u00ae\u00af\u00b0-\u00b3\u00b4-\u00ba\u00d7\u00f7"
            "\u0387\u05be\u05c0\u05c3\u05c6\u05f3\u05f4\u0600-\u0603\u0606-\u060a\u060c\u0614\u061b"
            "\u061e\u066a\u066d\u0703-\u070d\u07f6-\u07f8\u0964\u0965\u0e4f\u1fbd\u2016\u2017"
            "\u2020-\u2025\u2030-\u2038\u203b\u203c\u203e-\u2044\u2070-\u209f\u2100-\u214f"
            "\u2190-\u21ff\u2200-\u2bff\u3001-\u3006\u3008-\u3020\u30fb\uff01-\uff0f\uff1a-\uff20"
            "\uff3b-\uff40\uff5b-\uff65")
    currency = "\u00a2\u00a3\u00a4\u00a5\u0080\u20a0\u20ac\u060b\u0e3f\u20a4\uffe0\uffe1\uffe5\uffe6"
    sentence_end = ".\u00a1\u00bf\u037e\u0589\u061f\u06d4\u0700-\u0702\u07fa\u3002"
    url_end = "[^ \t\n\f\r\"<>|.!?(){},\\-]"
    file_ext = ("bat|bmp|c|class|cgi|cpp|dll|doc|docx|exe|gif|gz|h|htm|html|jar|java|jpeg|jpg|mov|mp3|pdf"
                "|php|pl|png|ppt|ps|py|sql|tar|txt|wav|x|xml|zip")
    superscripts, subscripts = "\u2070\u00b9\u00b2\u00b3\u2074-\u2079", "\u2080-\u2089"
    apos_chars = "'\u0092\u2019`\u0091\u2018\u201b&"
    ascii_letters = "A-Za-z"
    # (characters a match can start with or None for any, token, trailing context, action);
    # the order is the jar's rule order, which breaks ties between matches of equal length.
    table: list[tuple[str | None, str | list[str], str | None, Action]] = [
        ("cCfF", r"(?i:c\+\+|[cf]#)", None, _keep),
        ("cC'", r"(?i:cannot|'twas)", None, _push_back(3)),
        ("'gGlLwW", r"(?i:'tis|gonna|gotta|lemme|gimme|wanna)", None, _push_back(2)),
        ("<", sgml, None, _map(lambda t: t.replace(" ", "\u00a0"))),
        ("&\u0096\u0097\u2013\u2014\u2015", "(?i:&(?:MD|mdash|ndash);)|[\u0096\u0097\u2013\u2014\u2015]",
         None, _const("--")),
        ("&", "(?i:&amp;)", None, _const("&")),
        ("&", r"&(?i:HT|TL|UR|LR|QC|QL|QR|odq|cdq|#[0-9]+);", None, _keep),
        (word_letters + "&", word, redaux, _map(_no_soft_hyphen)),
        (ascii_letters + "\u00ad", sword, sredaux, _map(_no_soft_hyphen)),
        (word_letters + "&", word, None, _map(_no_soft_hyphen)),
        (letters + apos_chars,
         [f"{apos}(?i:n){apos}?", f"[lLdDjJ]{apos}", f"(?i:Dunkin|somethin|ol){apos}", f"{apos}(?i:em)",
          f"(?i:diff){apos_etc}(?i:rent)", f"[A-HJ-XZn]{apos_etc}[{letters}]{{2,}}", f"{apos}[2-9]0(?i:s)",
          f"{apos}(?i:till?|cause)", f"[{letters}]+[aeiouyAEIOUY]{apos_etc}[aeiouA-Z][{letters}]*",
          r"(?i:cont'd\.?|nor'easter|c'mon|e'er|s'mores|ev'ry|li'l|nat'l)", f"O{apos_etc}(?i:o)"],
         None, _keep),
        ("yY", f"(?i:y){apos}", L, _keep),
        ("fFsShHmM", f"(?i:ftp|svn|svn\\+ssh|http|https|mailto)://[^ \t\n\f\r\"<>|(){{}}]+{url_end}", None, _keep),
        (None, "(?:(?i:www)\\.(?:[^ \t\n\f\r\"<>|.!?(){},]+\\.)+[a-zA-Z]{2,4}"
               "|(?:[^ \t\n\f\r\"`'<>|.!?(){}\\x2c-\\x5f$]+\\.)+(?i:com|net|org|edu))"
               "(?:/[^ \t\n\f\r\"<>|()]+[^ \t\n\f\r\"<>|.!?(){},\\-])?", None, _keep),
        ("&<A-Za-z0-9", "(?:&lt;|<)?[a-zA-Z0-9][^ \t\n\f\r\"<>|()\u00a0{}]*@(?:[^ \t\n\f\r\"<>|(){}.\u00a0]+\\.)*"
                        "[^ \t\n\f\r\"<>|(){}.\u00a0]+(?:&gt;|>)?", None, _keep),
        ("@#", [r"@[a-zA-Z_][a-zA-Z_0-9]*", f"#{L}+"], None, _keep),
        (apos_chars, redaux, "[^A-Za-z]", _map(_right_quote)),
        ("nN", sredaux, "[^A-Za-z]", _map(_right_quote)),
        (digits, f"{D}{{1,2}}[-/]{D}{{1,2}}[-/]{D}{{2,4}}", None, _keep),
        (f"-+.:,\u00ad\u066b\u066c{digits}", f"[-+]?(?:{num})", None,
         _map(lambda t: t.replace("\u00ad", "").replace("\u066c", ""))),
        (digits, f"(?:{D}{{1,4}}[- \u00a0])?{D}{{1,4}}(?:\\\\?/|\u2044){D}{{1,4}}", None,
         _map(lambda t: t.replace(" ", "\u00a0"))),
        ("\u207a\u207b\u208a\u208b" + superscripts + subscripts,
         f"[\u207a\u207b\u208a\u208b]?(?:[{superscripts}]+|[{subscripts}]+)", None, _keep),
        ("\u00bc\u00bd\u00be\u2153-\u215e", "[\u00bc\u00bd\u00be\u2153-\u215e]", None, _map(_fraction)),
        ("-cCpPaAsS", [r"-(?i:RRB|LRB|RCB|LCB|RSB|LSB)-", r"(?i:C\.D\.s|pro-|anti-)",
                       r"(?i:S)(?:&|&amp;)(?i:P-500|Ls)", f"(?i:Cap){apos}(?i:n)", f"(?i:c){apos}(?i:est)"],
         None, _map(_ampersand)),
        ("A-Za-z0-9", r"[A-Za-z0-9]+(?:-[A-Za-z]+){0,2}(?:\\?/[A-Za-z0-9]+(?:-[A-Za-z]+){0,2}){1,2}", None, _keep),
        ("A-Z$#", r"[A-Z]*\$|#", None, _keep),
        (currency, f"[{currency}]", None, _map(_currency)),
        (ascii_letters, [f"(?:{a})\\." for a in acro], f"{spnl}+(?:{sentence_words}|{sgml})(?:{spnl}|[?!])",
         _acronym_before_sentence),
        (ascii_letters, _NUMBER_ABBREVS + r"\.", f"{spnl}?{D}", _keep),
        ("pPcC", _COMPANY_ABBREVS + r"\.", f"{sp}(?i:ltd|lim)", _keep),
        (ascii_letters, abbrev1, f"{spnl}(?:{spnl}|{upper}|{sgml})", _reduplicate_period),
        (ascii_letters, abbrev1, r"[\s\S]{2}", _keep),
        (ascii_letters, abbrev1, None, _reduplicate_period),
        (ascii_letters, abbrev4 + r"\.", None, _keep),
        (ascii_letters, abbrev4, sp, _keep),
        (ascii_letters, acro, spnl, _keep),
        (apos_chars, f"{apos}[0-9][0-9]", spnl, _keep),
        (word_letters + digits, f"[{word_letters}{digits}]+(?:\\.[{word_letters}{digits}]+)*\\.(?i:{file_ext})",
         f"{spnl}|[.?!,]", _keep),
        (word_letters + "&", word + r"\.", "[,;:\u3001]", _map(_no_soft_hyphen)),
        ("(+0-9", r"(?:\([0-9]{2,3}\)[ \u00a0]?|(?:\+\+?)?(?:[0-9]{2,4}[- \u00a0])?[0-9]{2,4}[- \u00a0])"
                  r"[0-9]{3,4}[- \u00a0]?[0-9]{3,5}|(?:(?:\+\+?)?[0-9]{2,4}\.)?[0-9]{2,4}\.[0-9]{3,4}\.[0-9]{3,5}",
         None, _map(lambda t: _brackets_in(t.replace(" ", "\u00a0")))),
        ('"&', r"\"|(?i:&quot;)", "[A-Za-z0-9$]", _const("``")),
        ('"&', r"\"|(?i:&quot;)", None, _const("''")),
        ("\x7f", "\x7f", None, _skip),
        ("<&", r"<|(?i:&lt;)", None, _const("<")),
        (">&", r">|(?i:&gt;)", None, _const(">")),
        ("<>:;=", r"[<>]?[:;=][\-o*']?[()DPdpO\\{@|\[\]]", "[^A-Za-z0-9]", _map(_brackets_in)),
        ("-^x=~<>'(", [r"[\-^x=~<>']_[\-^x=~<>']", r"\([\-^x=~<>'][_.]?[\-^x=~<>']\)",
                       r"\([\^x=~<>']-[\^x=~<>'`]\)"], None, _map(_brackets_in)),
        ("{", r"\{", None, _const("-LCB-")), ("}", r"\}", None, _const("-RCB-")),
        ("\\[", r"\[", None, _const("-LSB-")), ("\\]", r"\]", None, _const("-RSB-")),
        ("(", r"\(", None, _const("-LRB-")), (")", r"\)", None, _const("-RRB-")),
        ("-", r"-+", None, _hyphens),
        (".\u0085\u2026", "\\.{3,5}|(?:\\.[ \u00a0]){2,4}\\.|[\u0085\u2026]", None, _const("...")),
        ("@#_*\\\\,;:\u3001?!=/", r"@+|#+|_+|\*+|(?:\\\*){1,3}|[,;:\u3001]|[?!]+|=|/", None, _keep),
        (sentence_end, f"[{sentence_end}]", None, _keep),
        ("A-Za-z0-9", f"[A-Za-z0-9][A-Za-z0-9.,\u00ad]*(?:-(?:{acro2}\\.|[A-Za-z0-9\u00ad]+))+", None,
         _map(_no_soft_hyphen)),
        (letters + digits, thing + r"\.", "[,;:\u3001]", _keep),
        (letters + digits, thing, None, _keep),
        ("A-Z", r"[A-Z]+(?:(?:[+&]|&amp;)[A-Z]+)+\.", "[,;:\u3001]", _map(_ampersand)),
        ("A-Z", r"[A-Z]+(?:(?:[+&]|&amp;)[A-Z]+)+", None, _map(_ampersand)),
        ("'", "'", "[A-Za-z][^ \t\u00a0\n]", _const("`")),
        (quotes + apos_chars, ["''", f"[{quotes}]{{1,2}}", apos_etc], None, _map(_right_quote)),
        (apos_chars + "nN", [redaux, sredaux], None, _map(_right_quote)),
        ("<>", r"<<|>>", None, _keep),
        (misc, f"[{misc}]", None, _keep),
        (None, "\x00|[ \t\u00a0\u2000-\u200a\u3000]+|[\u200b\u200e\u200f\ufeff]|\n|(?i:&nbsp;)", None, _skip),
        (None, r"[\s\S]", None, _skip),
    ]
    rules = []
    for first, token, context, action in table:
        starts = None if first is None else re.compile(f"[{first}]")
        for alternative in ([token] if isinstance(token, str) else token):
            pattern = f"(?P<tok>{alternative})" + (f"(?:{context})" if context else "")
            rules.append(Rule(starts, re.compile(pattern), action))
    return tuple(rules)


@functools.lru_cache(maxsize=4096)
def candidate_rules(char: str, ascii_only: bool = False) -> tuple[Rule, ...]:
    """The rules (of ``lexer_rules(ascii_only)``) whose matches can start with ``char``, in rule order."""
    return tuple(rule for rule in lexer_rules(ascii_only) if rule.starts is None or rule.starts.match(char))
