"""The chain's one customer registry, as pure rules (K1-K10).

``record``: fields, extra questions, mandatory fields and their validation; ``contact``:
E.164 phones, normalised e-mails, the folded name key; ``history``: a customer as the set
of its edits (offline edits at several stores, erasure); ``duplicates``: likely duplicates
and the merge into one survivor; ``aggregates``: spend, visits, basket; ``alerts``: the
condition catalogue, the facts and the till's alerts. Cards are in ``rules.cards``.
"""
