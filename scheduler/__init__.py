"""Jobs that run on their own: sending the outbox now; round schedules come with the
schedules issue."""
