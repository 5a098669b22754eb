"""The shared core every capability builds on: text utilities, segmentation and windows, dates, the injection
screen, structured model calls and support checking. It imports nothing from a capability."""
