# example.com
if /@(example\.com|example\.net)$/
/^sales[^@+]*(\+)[^@]*@(example\.com|example\.net)$/ bob@example.com
if !/(\+)[^@]*@/
/^sales.*@(example\.com|example\.net)$/ bob@example.com
endif
endif
