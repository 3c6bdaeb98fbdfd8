"""Run exported models without PyTorch: numpy, onnxruntime and pillow only.

``mmrnn export caption|vqa`` (:mod:`multimodal_rnn.onnx_export` and the tasks' ``export``
modules) writes a folder of ONNX graphs and a manifest; this package runs it with the library's
own image transform (:mod:`.transform`) and decoding (:mod:`.search`: greedy and batched beam
search over the exported decoder step, the algorithms of :mod:`multimodal_rnn.decoding`), so the
captions and answers are PyTorch's. Nothing here imports torch (a test runs it where ``import
torch`` fails): the package's torch-free modules (``errors``, ``files``, ``text.vocab``) and
numpy, onnxruntime, PIL.

Modules: :mod:`.manifest` (the folder's ``export.json``, checked), :mod:`.caption`
(:class:`~.caption.ExportedCaptioner`), :mod:`.vqa` (:class:`~.vqa.ExportedAnswerer`).
"""
