// Anypoint Platform audit-log export: client, cursor source, sinks, checkpoint, alert rules.
