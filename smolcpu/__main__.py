from smolcpu.cli import main

main()
