"""Migrations: discovery, ledgers, status, the plan (lint, PL/pgSQL, DDL effects, catalog
preflight), the runner, the nself adapter and the rehearsal.
"""
