from kvplan.cli.fast_check import main

main()
