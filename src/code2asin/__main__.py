from code2asin.cli import main

main()
