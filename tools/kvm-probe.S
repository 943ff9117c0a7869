/* Boot sector: real mode -> 32-bit protected mode -> 64-bit long mode with paging,
   then write 1 to isa-debug-exit (port 0xf4). Each step is where a broken KVM may hang. */
        .code16
        .org 0
start:
        cli
        xor %ax, %ax
        mov %ax, %ds
        mov %ax, %ss
        mov $0x7c00, %sp
        lgdt gdtr
        mov %cr0, %eax
        or $1, %eax
        mov %eax, %cr0
        ljmpl $0x08, $pm32
        .code32
pm32:
        mov $0x10, %ax
        mov %ax, %ds
        mov %ax, %es
        mov %ax, %ss
        /* page tables at 0x1000 (PML4), 0x2000 (PDPT), 0x3000 (PD): identity map 2 MB */
        mov $0x1000, %edi
        xor %eax, %eax
        mov $0xc00, %ecx
        rep stosl
        movl $0x2003, 0x1000
        movl $0x3003, 0x2000
        movl $0x83, 0x3000
        mov %cr4, %eax
        or $0x20, %eax          /* PAE */
        mov %eax, %cr4
        mov $0x1000, %eax
        mov %eax, %cr3
        mov $0xc0000080, %ecx   /* EFER */
        rdmsr
        or $0x100, %eax         /* LME */
        wrmsr
        mov %cr0, %eax
        or $0x80000000, %eax    /* PG */
        mov %eax, %cr0
        ljmp $0x18, $lm64
        .code64
lm64:
        mov $1, %al
        out %al, $0xf4
1:      hlt
        jmp 1b
        .p2align 3
gdt:
        .quad 0
        .quad 0x00cf9a000000ffff   /* 0x08 code32 */
        .quad 0x00cf92000000ffff   /* 0x10 data */
        .quad 0x00af9a000000ffff   /* 0x18 code64 */
gdtr:
        .word gdtr - gdt - 1
        .long gdt
        .org 510
        .byte 0x55, 0xaa
