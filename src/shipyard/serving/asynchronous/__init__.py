"""Asynchronous inference: an invocation queued as a durable job, answered at once (202).

``POST /endpoints/{name}/async-invocations`` (:mod:`.accept`) takes the input in the
body, streamed to the artifact store as it arrives, or by reference
(``X-Shipyard-Input-Location``), and enqueues a job of kind ``inference:NAME`` on the
job store (:mod:`shipyard.stores.jobs`: leases, heartbeats, retries with backoff, a
dead letter, a time-to-live). A worker (:mod:`.job`, run by ``shipyard worker`` or
inside ``shipyard server``) reads the input a record batch at a time, predicts with
the model version chosen when the request was accepted, and writes the output to a
location fixed at acceptance, idempotently (:mod:`.outputs`); a job that fails for
good writes its error to its failure location. Webhooks (:mod:`shipyard.jobs.webhooks`)
tell the endpoint's listeners either way.
"""
