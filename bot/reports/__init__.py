"""Quality figures of the fracture liaison chain per unit and period (SPEC section 5).

`service` computes them, `export` turns them into text, JSON and CSV, `command` is the
`frakturkedjan report` subcommand and `page` the read-only HTML/CSV page.
"""
