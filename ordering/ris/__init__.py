"""HL7 v2 to a centre's RIS: the order messages (messages.py), built and validated
with hl7apy, and the MLLP client that sends them and reads the ACK (mllp.py)."""
