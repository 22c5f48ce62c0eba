"""Tokenizer training, token shards, the GPT, its training loop and sampling (see train/README.md).

Entry points: :func:`train.tokenizer.train_tokenizer`, :func:`train.tokenize.tokenize_shards`,
:func:`train.train.train`, :func:`train.train.evaluate`, :func:`train.sample.sample`, and
:func:`train.cli.register` for the ``curate`` command line. Submodules import torch/Ray lazily where they can.
"""

#: The end-of-text token that separates documents (here, not in train.tokenizer, so that ``curate``'s command
#: line names it without loading the tokenizers library).
EOT = "<|endoftext|>"
