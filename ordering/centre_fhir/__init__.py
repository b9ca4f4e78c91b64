"""FHIR back to the centre: the booking as an Appointment and its ServiceRequest on
the centre's FHIR server (resources.py), the HTTP client that writes them only under
the centre's feed base (client.py), and their delivery from the outbox (delivery.py)."""
