"""The console's compose service: recipients, mail merge, the counter and the policy dry run,
recurring schedules.

Knows: what a person composing a send needs checked before it goes.
Must not know: HTTP (the console's compose pages call it), SQL (appliance.store.compose).
"""
