"""Text commands in the personal chat (SPEC section 4), built on botbuilder-dialogs.

One module per command: `help`, `my_cases` ("mina ärenden"), `open_tasks` ("uppgifter"),
`one_case` ("ärende <id>"). Each takes a database session and the sender and returns a
`Reply`; it calls services, renders a card and audits what it shows, and never imports
the Bot Framework SDK. `text` parses what people type; `main` holds the dialog (the
`ärende` question waits for the next message, so its state lives in the conversation
state) and sends the replies.
"""
