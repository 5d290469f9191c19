"""Facts about one module, computed once and shared by every check.

``context.ModuleContext`` owns them: the index built during the single traversal (scopes,
statements, calls, classes, imports) and, on demand, the derived facts (data flow, fixed values).
"""
