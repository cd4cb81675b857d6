@echo off
rem Windows cannot run fake-app-server.js through its #! line: the client runs this shim through
rem cmd.exe /d /s /c (as it does npm's codex.cmd), and it starts the same script with node.
node "%~dp0fake-app-server.js" %*
