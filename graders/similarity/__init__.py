"""Academic honesty: which submissions share code (and written answers) beyond what the template gives.

A flagged pair is a reason for a TA to look, never a verdict. Entry points:
``analyse(submissions, template_cells())`` -> ``SimilarityReport``;
``SimilarityReport.to_json()`` (contract section 5), ``.write_html(out_dir)``,
``.column(sub_id)`` for the class overview (partner, similarity, flagged, why).

Modules: ``tokenise``/``winnow``/``index``/``compare`` (token fingerprints),
``structure``/``evidence`` (what the homework functions compute; rare shared
texts), ``decide`` (score, flag, reason, clusters, neighbours), ``written`` and
``pdf_answers`` (written answers, apart), ``dictated`` (common ground),
``analysis`` (all pairs), ``report`` (the page).
"""
from graders.similarity.analysis import (MIN_LONGEST, THRESHOLD, PairScore, SimilarityReport, analyse,
                                         analyse_cells, template_cells)

__all__ = ["analyse", "analyse_cells", "template_cells", "SimilarityReport", "PairScore", "THRESHOLD",
           "MIN_LONGEST"]
