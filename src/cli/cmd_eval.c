/* clgm eval (work in progress) */
#include "cli/cli.h"

int cmd_eval(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_error("eval", "not yet");
}
