"""ClassTop Fleet contract: topics, messages, commands and errors shared by cloud, LMS and agent."""
