"""Agent upgrades served by the LMS (docs/upgrades.md): ``settings`` (``[upgrades]``), ``packages`` (the verified
package cache in the data directory), ``tickets`` (short-lived per-agent download tickets), ``campaigns`` (the
campaign tables) and ``runner`` (waves: canary first, stop on the first failure or rollback); ``__main__`` is the
CLI (``add-package``, ``keygen``, ``sign``)."""
