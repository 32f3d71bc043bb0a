"""The agent's commands (`tessera agent ...`): the group in ``agent``, enrolment, the doctor,
the printer tools."""
