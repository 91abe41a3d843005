"""What people and systems do, one module per action: the verb's name is the file's.

==================  ===================  ============================================
action              verb                 module
==================  ===================  ============================================
decide a case       ``case.decide``      `decide` (with handing it to a colleague)
undo a decision     ``case.undo``        `undo_decision`
assign a case       ``case.assign``      `assign`
tick a task off     ``task.complete``    `complete_task` (books the visit)
undo a tick         ``task.reopen``      `reopen_task`
record a visit      ``visit.record``     `record_visit`
show a card again   ``card.refresh``     `refresh_card`
take in an answer   ``POST /api/dxa-answers``, ``frakturkedjan ingest``:
                                         `take_in_answer`
==================  ===================  ============================================

A flow runs the transaction, calls the domain primitives (`bot.cases.service`,
`bot.tasks.service`, `bot.visits.service`, `bot.intake`), posts the cards through
`bot.messaging`, and returns a `result.Result`. `registry` binds each verb to its data
model (`data`) and its flow.
"""
