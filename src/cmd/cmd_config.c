/* SPDX-License-Identifier: MIT */
#include "cmd/cmd.h"

#include <stdio.h>

int cmd_config(int argc, char **argv)
{
    (void)argc;
    fprintf(stderr, "candlekeep %s: not built yet\n", argv[0]);
    return CMD_FAIL;
}
