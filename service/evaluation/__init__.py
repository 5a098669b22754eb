"""The golden eval set: data, deterministic metrics, the runner, reports and the regression gate."""
