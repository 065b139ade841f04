from kmshell.cli import main

main()
