"""Rule families: one package per family, ``nnlint.families.<family>``.

Each holds ``rules.py`` (its ``Rule``s and ``Check``s, found by ``nnlint.registry``), the analysis
only this family uses, ``fixes.py`` (the rewrites behind ``--fix``, built with ``nnlint.rewrite``)
and ``probe.py`` (its runtime probes, imported only by ``nnlint.runtime`` for ``--confirm``; static
mode never loads them). Families never import each other: a fact two families need lives in
``nnlint.analysis``.
"""
