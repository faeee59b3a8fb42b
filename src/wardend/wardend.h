/* wardend's two process-wide globals, declared here and defined in main.c, which sets
 * them up first thing in its start-up order (config, then loop): every module below
 * main may read them, none assigns them. */
#ifndef W_WARDEND_H
#define W_WARDEND_H

#include "cfg.h"
#include "loop.h"

extern struct w_config *g_cfg;
extern struct loop *g_loop;

#endif
