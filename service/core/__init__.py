"""The shared core every capability builds on: text utilities, segmentation and windows, dates, the injection
screen, structured model calls, support checking and locating phrases in stored text (spans). It imports nothing
from a capability."""
