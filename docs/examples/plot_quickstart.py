"""
Quick start: fit, tune epsilon, flag
====================================

Fit the multivariate Gaussian on (mostly normal) server metrics, choose the
threshold epsilon on a labelled validation set by the exact F1 scan, and look
at what it flags.
"""

import matplotlib.pyplot as plt

from gaussext import GaussianAnomalyDetector, plot
from gaussext.datasets import make_demo_split

split = make_demo_split(random_state=0)
detector = GaussianAnomalyDetector(covariance="full").fit(split.X_train)
result = detector.tune_threshold(split.X_val, split.y_val)
print(result)

# %%
# ``predict`` flags a point (-1) when its log-density is below log epsilon.
flags = detector.predict(split.X_val)
print(f"{(flags == -1).sum()} of {flags.size} validation rows flagged; "
      f"{split.y_val.sum()} are labelled anomalies")

# %%
# The report: each feature with its fitted normal, the model's contours, the
# flagged rows and the precision / recall / F1 curves against log epsilon.
figure = plot.report(detector, split.X_val, split.y_val, threshold_result=result,
                     feature_names=split.feature_names)
plt.show()
