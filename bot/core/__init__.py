"""The bottom layer: values and calendars every other package may use.

Nothing here imports from ``bot``: personal identity numbers (``identifiers``), the
measurement of one DXA site (``measurements``) and the Swedish working-day calendar in
Europe/Stockholm (``calendar``).
"""
