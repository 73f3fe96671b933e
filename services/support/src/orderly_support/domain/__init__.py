"""The support domain: decisions only, no I/O. Cases and their agreements, feedback on
delivered orders, the orders support knows, and what they refuse."""
