"""HL7 CDS Hooks 2.0: discovery, order-select, order-sign, feedback."""
