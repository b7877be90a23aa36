from kmsdoctor.cli import main

main()
