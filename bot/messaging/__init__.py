"""What gets said, and to whom: the cards' contexts and their delivery.

- `format`: dates, times, case references and the patient line as cards show them;
- `context`: the parts of a card drawn from a case (answer, suggestion, decision, tasks,
  history) and who may refresh it;
- `cards`: each card of a case, and the card a viewer gets for a case in its state;
- `post`: the one way a card is posted, to a person or a unit's MVA channel, through the
  outbox in the caller's transaction;
- `notify`: the cards an action sends (decision, triage, tasks, checklist, notices).

Above the domain packages (it reads cases, tasks, visits and the directory) and below the
flows and jobs that use it; it changes nothing but the outbox.
"""
