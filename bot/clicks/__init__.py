"""Card clicks answered once: each state-changing click's keys and the answer it got, so
that the same click arriving again (Teams retries an invoke it got no answer to in time,
or a double click) records nothing more and gets the same card (SPEC section 4)."""
