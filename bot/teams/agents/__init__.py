"""The Teams layer on the Microsoft 365 Agents SDK (`TEAMS_SDK=agents`); nothing here imports
botbuilder."""
