"""Interactive voice response: menus and prompts played to callers."""
