"""Files: report loaders and the versioned prompt files."""
