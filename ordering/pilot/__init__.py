"""The pilot: decision-support modes per site and service and period (modes), what each
decision records for the report (measures), and the report itself (report, plots)."""
