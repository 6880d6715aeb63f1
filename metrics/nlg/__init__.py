"""The nlg metric."""
