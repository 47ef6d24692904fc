from pyrunc.cli.main import exit_now, main

exit_now(main())  # without the interpreter's teardown (see exit_now)
