"""The enterprise policy layer (ROADMAP step 6): the rules every send obeys, whatever its door.

Knows: who submits (`origin.Origin`), the checks a send request passes before it is stored
(`layer.PolicyLayer`), and the rules themselves (one module each).
Must not know: HTTP, modems, SIM choice. Doors build an Origin and call intake's
`submit_request`; intake runs the layer; nothing reaches the outbox around it.
"""
