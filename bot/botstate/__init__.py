"""Bot Framework turn state (dialog and conversation state) kept in the project's database."""
