"""The judge: what a worker sent back for one item, turned into marks with reasons.

``dispatch.judge`` hands each item to the module of its kind (``scalar``, ``sampler``, ``loss``,
``training``); ``evidence`` and ``childdata`` are the typed, capped readers they share; ``baselines``
is the reference trained under the same budget; ``crosscheck``, ``stats`` and ``suspicious`` hold the
facts measured outside the student's processes, the noise tests and the TA's flags.
"""
