"""The synthetic shapes world: scenes (:mod:`.scene`), their true captions, questions and dialogs
(:mod:`.captions`, :mod:`.questions`, :mod:`.dialog`), the files in the standard formats
(:mod:`.writers`, :mod:`.world`) and the truth checker that scores generated text against the
scene graphs (:mod:`.truth`; the caption grammar it parses claims with: :mod:`.claims`)."""
