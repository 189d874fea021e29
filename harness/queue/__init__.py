"""Many benches, one queue: certification runs carried out by whichever bench can.

A lab has many benches (different interfaces, CAN FD or not, one bus or several). A run
request (:class:`~harness.queue.model.RunRequest`: the profile pinned by its sha256, the DUT,
real time or not, the cases, and what it needs of a bench) goes through an established task
queue, Celery with Redis as its broker, onto a queue named by those needs; a worker on each
bench machine (``harness queue worker``) consumes exactly the queues its bench meets
(:func:`~harness.queue.model.queues_served`), so routing is Celery's own. Each worker runs the
request like ``harness certify`` (:mod:`~harness.queue.execute`) and returns its outcome
through the result backend. Delivery is acknowledged late and a dead worker's message goes
back to its queue (:mod:`~harness.queue.app`): a run is never lost and a killed run is never
a pass. Without a broker, ``harness queue submit`` runs the request in process.

The package sits at the top, beside :mod:`harness.qualify`; the command line is
:mod:`~harness.queue.cli`.
"""
