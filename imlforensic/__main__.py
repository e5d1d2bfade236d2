from imlforensic.cli import main

main()
