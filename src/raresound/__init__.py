"""raresound: rare sound event detection under class imbalance.

Data flows one way: audio -> features -> store -> loader -> model -> scores -> metrics/events.
"""

__version__ = "0.1.0"
