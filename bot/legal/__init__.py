"""The public legal pages the Teams app package links to: `/privacy` and `/terms`."""
